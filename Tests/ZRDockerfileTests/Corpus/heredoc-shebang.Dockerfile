FROM python:3.12-slim
RUN <<EOF
#!/usr/bin/env python3
with open('/hello', 'w') as f:
    f.write('hello\n')
EOF
RUN <<EOF bash -e
for i in 1 2 3; do
  echo $i
done
EOF
