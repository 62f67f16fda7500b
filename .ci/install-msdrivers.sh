#!/usr/bin/env bash
# Installs Microsoft's own SQL Server drivers for the compatibility matrix
# (test/e2e/msdrivers_*_test.go):
#   - mssql-jdbc, pinned by test/clients/jdbc/pom.xml: Maven resolves it into
#     test/clients/jdbc/.m2 and compiles the driver program into target/;
#   - mssql-python, pyodbc 5 and SQLAlchemy 2, pinned by
#     test/clients/pydrivers/requirements.txt, in the virtual environment
#     test/clients/pydrivers/.venv, plus the Debian libraries they load
#     (mssql-python's bundled ODBC Driver 18 core needs libltdl7 and Kerberos;
#     pyodbc needs unixODBC; SQLAlchemy's pyodbc dialect uses FreeTDS ODBC);
#   - tiberius (Rust), pinned by test/clients/tiberius/Cargo.toml and
#     Cargo.lock, built with cargo into test/clients/tiberius/target.
#
# Idempotent: each step is skipped when its result is already up to date.
# Runs as root on Debian 12 (sudo otherwise). Called by .ci/run.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log="$(mktemp -t tdsproxy-msdrivers.XXXXXX.log)"
trap 'rm -f "$log"' EXIT

# quiet runs a noisy step with its output in $log, printed only if it fails.
quiet() {
	echo "+ $*"
	if ! "$@" >>"$log" 2>&1; then
		echo "FAILED: $*" >&2
		cat "$log" >&2
		exit 1
	fi
}

sudo_cmd=()
if [ "$(id -u)" != 0 ]; then
	sudo_cmd=(sudo)
fi

# ---------------------------------------------------------------- Debian
apt_packages=(
	openjdk-17-jdk-headless # javac/java for mssql-jdbc
	maven                   # resolves and pins mssql-jdbc
	python3-venv            # the drivers' virtual environment
	libltdl7                # mssql-python's ODBC Driver 18 core
	libkrb5-3
	libgssapi-krb5-2
	unixodbc                # libodbc.so.2 for pyodbc 5
	tdsodbc                 # FreeTDS ODBC driver under SQLAlchemy + pyodbc
	libssl-dev              # tiberius's TLS (native-tls over OpenSSL)
	pkg-config
)
missing=()
for p in "${apt_packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if [ "${#missing[@]}" -gt 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	quiet "${sudo_cmd[@]}" apt-get update
	quiet "${sudo_cmd[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi

# ---------------------------------------------------------------- mssql-jdbc
jdbc=test/clients/jdbc
built="$jdbc/target/classes/io/github/tdsproxy/e2e/Driver.class"
stale=1
if [ -f "$built" ] && ls "$jdbc"/target/dependency/mssql-jdbc-*.jar >/dev/null 2>&1; then
	stale=0
	for src in "$jdbc/pom.xml" $(find "$jdbc/src" -name '*.java'); do
		if [ "$src" -nt "$built" ]; then
			stale=1
		fi
	done
fi
if [ "$stale" = 1 ]; then
	# A jar left from another pinned version must not linger in the class path.
	rm -rf "$jdbc/target/dependency"
	(cd "$jdbc" && quiet mvn -B -q -Dmaven.repo.local=.m2 compile dependency:copy-dependencies)
else
	echo "+ mssql-jdbc driver program is up to date"
fi

# ---------------------------------------------------------------- Python drivers
py=test/clients/pydrivers
venv="$py/.venv"
if [ ! -x "$venv/bin/python" ]; then
	quiet /usr/bin/python3 -m venv "$venv"
fi
if ! cmp -s "$py/requirements.txt" "$venv/requirements.installed"; then
	quiet "$venv/bin/pip" install --disable-pip-version-check --no-input -r "$py/requirements.txt"
	cp "$py/requirements.txt" "$venv/requirements.installed"
else
	echo "+ Python drivers are up to date"
fi
# Fail here, not in the tests, when a native library is missing.
quiet "$venv/bin/python" -c 'import mssql_python, pyodbc, sqlalchemy'

# ---------------------------------------------------------------- tiberius
cargo_bin="$(command -v cargo || true)"
if [ -z "$cargo_bin" ] && [ -x "$HOME/.cargo/bin/cargo" ]; then
	cargo_bin="$HOME/.cargo/bin/cargo"
fi
if [ -z "$cargo_bin" ]; then
	echo "FAILED: cargo is not installed; this machine kind should provide Rust (tiberius)" >&2
	exit 1
fi
# cargo rebuilds only what changed; --locked keeps Cargo.lock's versions.
(cd test/clients/tiberius && quiet "$cargo_bin" build --release --locked --quiet)
