FROM alpine:3.19
RUN <<EOF1 cat > /a && <<EOF2 cat > /b
first
EOF1
second
EOF2
RUN 3<<FD cat /dev/fd/3
via fd three
FD
RUN <<'END' python3
import os
print(os.environ.get("HOME"))
END
COPY --chmod=755 <<"run.sh" /usr/local/bin/
#!/bin/sh
exec "$@"
run.sh
