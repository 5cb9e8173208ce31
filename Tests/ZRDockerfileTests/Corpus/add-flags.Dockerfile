FROM alpine:3.19
ADD https://example.com/big.tar.xz /opt/
ADD --keep-git-dir=true https://github.com/moby/buildkit.git#v0.13.0 /buildkit
ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://mirrors.edge.kernel.org/pub/linux/kernel/Historic/linux-0.01.tar.gz /
ADD --chown=root:root --chmod=644 --link files.tar.gz /files/
ADD --exclude=*.txt data/ /data/
