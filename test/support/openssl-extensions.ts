/**
 * openssl config sections that tests making their own PKI share: `req` without prompts, a CA and
 * a TLS server for 127.0.0.1 and localhost. A test adds the sections of its own leaves after them.
 */
export const CA_AND_SERVER_SECTIONS = `[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
`;
