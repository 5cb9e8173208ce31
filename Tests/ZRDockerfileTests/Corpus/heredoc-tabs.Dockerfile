FROM alpine:3.19
RUN <<-EOT sh
	if true; then
		echo indented
	fi
	EOT
ADD <<-CFG /etc/app.cfg
	key = ${KEY}
	CFG
