/**
 * A minimal DER reader for the hot issuance path: walks tag-length-value structures in place,
 * without building objects. Lengths must be definite; a length not in its shortest form is valid
 * BER, so it is read but remembered in `nonMinimalLength` for callers that insist on DER.
 */

export class DerDecodeError extends Error {
  override name = 'DerDecodeError';
}

export interface Tlv {
  tag: number;
  /** Offset of the tag octet. */
  start: number;
  /** Offset of the first content octet. */
  contentStart: number;
  /** Offset just past the content. */
  end: number;
}

export class DerReader {
  nonMinimalLength = false;

  constructor(readonly bytes: Uint8Array) {}

  /** The single element spanning all of `bytes`. */
  root(): Tlv {
    const tlv = this.read(0, this.bytes.length);
    if (tlv.end !== this.bytes.length) throw new DerDecodeError(`${this.bytes.length - tlv.end} octets follow the outer element`);
    return tlv;
  }

  read(offset: number, limit: number): Tlv {
    const bytes = this.bytes;
    if (offset + 2 > limit) throw new DerDecodeError(`truncated element at offset ${offset}`);
    const tag = bytes[offset]!;
    if ((tag & 0x1f) === 0x1f) throw new DerDecodeError(`high tag number form at offset ${offset} is not supported`);
    let length = bytes[offset + 1]!;
    let contentStart = offset + 2;
    if (length & 0x80) {
      const octets = length & 0x7f;
      if (octets === 0) throw new DerDecodeError(`indefinite length at offset ${offset}`);
      if (octets > 4) throw new DerDecodeError(`length of ${octets} octets at offset ${offset} is too large`);
      if (contentStart + octets > limit) throw new DerDecodeError(`truncated length at offset ${offset}`);
      length = 0;
      for (let i = 0; i < octets; i++) length = length * 256 + bytes[contentStart + i]!;
      contentStart += octets;
      if (length < 0x80 || length < 2 ** (8 * (octets - 1))) this.nonMinimalLength = true;
    }
    const end = contentStart + length;
    if (end > limit) throw new DerDecodeError(`element at offset ${offset} runs past its container`);
    return { tag, start: offset, contentStart, end };
  }

  /** The elements inside a constructed element, which they must fill exactly. */
  children(parent: Tlv): Tlv[] {
    if ((parent.tag & 0x20) === 0) throw new DerDecodeError(`element with tag 0x${hex(parent.tag)} is not constructed`);
    const out: Tlv[] = [];
    for (let at = parent.contentStart; at < parent.end;) {
      const child = this.read(at, parent.end);
      out.push(child);
      at = child.end;
    }
    return out;
  }

  /** Children of an element that must carry `tag`, e.g. a SEQUENCE. */
  childrenOf(parent: Tlv, tag: number, what: string): Tlv[] {
    this.expect(parent, tag, what);
    return this.children(parent);
  }

  expect(tlv: Tlv | undefined, tag: number, what: string): Tlv {
    if (!tlv) throw new DerDecodeError(`${what} is missing`);
    if (tlv.tag !== tag) throw new DerDecodeError(`${what} has tag 0x${hex(tlv.tag)}, expected 0x${hex(tag)}`);
    return tlv;
  }

  content(tlv: Tlv): Uint8Array {
    return this.bytes.subarray(tlv.contentStart, tlv.end);
  }

  /** The whole encoding, header included. */
  encoding(tlv: Tlv): Uint8Array {
    return this.bytes.subarray(tlv.start, tlv.end);
  }

  oid(tlv: Tlv | undefined, what: string): string {
    return decodeOid(this.content(this.expect(tlv, 0x06, what)), what);
  }

  /** BIT STRING content without its unused-bits octet; only whole octets are accepted. */
  octetAlignedBits(tlv: Tlv | undefined, what: string): Uint8Array {
    const content = this.content(this.expect(tlv, 0x03, what));
    if (content.length === 0 || content[0] !== 0) throw new DerDecodeError(`${what} is not a whole number of octets`);
    return content.subarray(1);
  }

  /** DER BOOLEAN: exactly one octet, 0x00 or 0xFF. */
  boolean(tlv: Tlv, what: string): { value: boolean; canonical: boolean } {
    const content = this.content(this.expect(tlv, 0x01, what));
    if (content.length !== 1) throw new DerDecodeError(`${what} is not a one-octet BOOLEAN`);
    return { value: content[0] !== 0, canonical: content[0] === 0 || content[0] === 0xff };
  }
}

export function decodeOid(content: Uint8Array, what = 'object identifier'): string {
  if (content.length === 0 || (content[content.length - 1]! & 0x80) !== 0) throw new DerDecodeError(`${what} is malformed`);
  const arcs: string[] = [];
  let value = 0;
  let big: bigint | undefined;
  for (let i = 0; i < content.length; i++) {
    const byte = content[i]!;
    if (value === 0 && big === undefined && byte === 0x80) throw new DerDecodeError(`${what} has a non-minimal arc`);
    if (big !== undefined) big = big * 128n + BigInt(byte & 0x7f);
    else if (value > 2 ** 45) big = BigInt(value) * 128n + BigInt(byte & 0x7f);
    else value = value * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) {
      let arc = big ?? BigInt(value);
      if (arcs.length === 0) {
        const first = arc < 80n ? arc / 40n : 2n;
        arcs.push(String(first));
        arc -= first * 40n;
      }
      arcs.push(String(arc));
      value = 0;
      big = undefined;
    }
  }
  return arcs.join('.');
}

/** Text of the directory string types certificates use; other types are refused rather than guessed at. */
export function decodeString(tag: number, content: Uint8Array, what: string): string {
  switch (tag) {
    case 0x0c: // UTF8String
      return new TextDecoder('utf-8', { fatal: true }).decode(content);
    case 0x16: // IA5String: 7-bit ASCII (X.680 41), so a byte above 0x7f is not one
      if (content.some((byte) => byte > 0x7f)) throw new DerDecodeError(`${what} is an IA5String with a byte outside ASCII`);
      return Buffer.from(content).toString('latin1');
    case 0x13: // PrintableString
    case 0x1a: // VisibleString
    case 0x14: // TeletexString, read as Latin-1 as most toolkits do
      return Buffer.from(content).toString('latin1');
    case 0x1e: // BMPString
      if (content.length % 2 !== 0) throw new DerDecodeError(`${what} is not a whole number of BMP characters`);
      return Buffer.from(content).swap16().toString('utf16le');
    default:
      throw new DerDecodeError(`${what} has string type 0x${hex(tag)}, which is not supported`);
  }
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, '0');
}
