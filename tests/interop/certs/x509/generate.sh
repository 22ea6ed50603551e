#!/bin/sh
# Regenerates the certificates of the x509 authentication tests (valid for 100 years). The
# Rust unit tests compare names against what Java's X500Principal prints for these files, so
# regenerating them means re-checking those strings (see x509.rs's tests).
set -eu
cd "$(dirname "$0")"
days=36500
key() { openssl genrsa -out "$1.key" 2048 2>/dev/null; }
csr() { openssl req -new -key "$1.key" -out "$1.csr" $3 -subj "$2"; }
sign() { # name issuer serial [extfile]
    if [ -n "${4:-}" ]; then ext="-extfile $4"; else ext=""; fi
    openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -set_serial "$3" -days $days \
        -out "$1.pem" $ext 2>/dev/null
    rm "$1.csr"
}
printf 'basicConstraints=critical,CA:TRUE\n' > ca.ext
printf 'basicConstraints=critical,CA:FALSE\n' > leaf.ext
printf 'basicConstraints=critical,CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n' > server.ext
printf 'basicConstraints=critical,CA:FALSE\nsubjectAltName=DNS:elsewhere.example\n' > elsewhere.ext

for ca in ca rogue-ca; do
    key $ca
    openssl req -x509 -new -key $ca.key -out $ca.pem -days $days -subj "/O=zk-server tests/CN=$ca"
done
key intermediate; csr intermediate "/O=zk-server tests/CN=intermediate" ""; sign intermediate ca 2 ca.ext
key server; csr server "/CN=localhost" ""; sign server ca 3 server.ext
# Trusted, but naming another host than the members' 127.0.0.1.
key elsewhere; csr elsewhere "/CN=elsewhere.example" ""; sign elsewhere ca 10 elsewhere.ext
# X.509 v1, as kazoo's test harness issues them: no extensions.
key client; csr client "/CN=client" ""; sign client ca 4
key admin; csr admin "/O=zk-server tests/CN=admin" ""; sign admin ca 5
key fancy
csr fancy "/C=US/O=Example, Inc./OU=Team+UID=u1/CN=#1 client; \"x\"/emailAddress=client@example.com" -multivalue-rdn
sign fancy intermediate 6 leaf.ext
key leaf-signer; csr leaf-signer "/CN=leaf-signer" ""; sign leaf-signer ca 7 leaf.ext
key forged; csr forged "/CN=forged" ""; sign forged leaf-signer 8
key rogue; csr rogue "/CN=client" ""; sign rogue rogue-ca 9
rm -f ./*.ext ./*.srl
