FROM debian:bookworm
RUN --mount=type=secret,id=aws,target=/root/.aws/credentials,required=true \
    aws s3 cp s3://bucket/file /file
RUN --mount=type=secret,id=token,env=API_TOKEN curl -H "Authorization: $API_TOKEN" https://api
RUN --mount=type=ssh,id=default,required git clone git@github.com:org/private.git
RUN --mount=type=tmpfs,target=/tmp/scratch,size=64m make check
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked,id=apt-${TARGETARCH},mode=0755,uid=0,gid=0 apt-get update
RUN --mount=type=bind,from=builder,source=/out,target=/in,rw cp -r /in /copied
RUN --network=none --security=sandbox make test
RUN --network=host ["/usr/bin/env", "true"]
