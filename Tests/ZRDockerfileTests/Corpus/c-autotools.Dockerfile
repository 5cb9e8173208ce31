FROM gcc:13 AS build
ARG PREFIX=/opt/app
WORKDIR /src
COPY configure.ac Makefile.am ./
COPY src/ src/
RUN autoreconf -fi \
 && ./configure --prefix=${PREFIX} CFLAGS="-O2 -g" \
 && make -j"$(nproc)" \
 && make install

FROM debian:bookworm-slim
ARG PREFIX=/opt/app
COPY --from=build ${PREFIX} ${PREFIX}
ENV PATH=${PREFIX}/bin:$PATH
CMD ["hello", "--verbose"]
