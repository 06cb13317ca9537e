/**
 * Options and arguments that take one of a fixed set of values. Anything else is refused before
 * the command runs, naming the valid values ("expected one of device, gateway, service"), and
 * `--help` lists them.
 */
import { Argument, InvalidArgumentError, Option } from 'commander';

function oneOf(values: readonly string[]): (value: string) => string {
  return (value) => {
    if (!values.includes(value)) throw new InvalidArgumentError(`expected one of ${values.join(', ')}`);
    return value;
  };
}

export function choiceOption(flags: string, description: string, values: readonly string[]): Option {
  return new Option(flags, description).choices(values).argParser(oneOf(values));
}

export function choiceArgument(name: string, description: string, values: readonly string[]): Argument {
  return new Argument(name, description).choices(values).argParser(oneOf(values));
}
