/**
 * Options and arguments that take one of a fixed set of values. Anything else is refused before
 * the command runs, naming the valid values ("expected one of device, gateway, service"), and
 * `--help` lists them. The action receives the value typed as one of them.
 */
import { Argument, InvalidArgumentError, Option } from '@commander-js/extra-typings';

function oneOf<const T extends string>(values: readonly T[]): (value: string) => T {
  return (value) => {
    const chosen = values.find((v) => v === value);
    if (chosen === undefined) throw new InvalidArgumentError(`expected one of ${values.join(', ')}`);
    return chosen;
  };
}

// .choices() lists the values in --help; .argParser() then replaces its check with ours (the
// message above) and types the value as one of them.
export function choiceOption<const Flags extends string, const T extends string>(flags: Flags, description: string, values: readonly T[]) {
  return new Option(flags, description).choices(values).argParser(oneOf(values));
}

export function choiceArgument<const Name extends string, const T extends string>(name: Name, description: string, values: readonly T[]) {
  return new Argument(name, description).choices(values).argParser(oneOf(values));
}
