FROM debian:bookworm
RUN <<EOF
apt-get update
apt-get install -y --no-install-recommends python3
rm -rf /var/lib/apt/lists/*
EOF
RUN <<-'SCRIPT' bash
	set -eu
	echo "$HOME stays literal"
	SCRIPT
COPY <<conf.ini <<"motd" /etc/
[main]
user=${USER:-root}
conf.ini
Welcome $NAME
motd
RUN python3 <<PY > /tmp/out.txt
print("hello")
PY
