ARG CUDA=12.3.2
ARG UBUNTU=22.04
FROM nvidia/cuda:${CUDA}-devel-ubuntu${UBUNTU} AS devel
ARG CUDA
ENV CUDA_HOME=/usr/local/cuda
RUN apt-get update && apt-get install -y --no-install-recommends cmake ninja-build git \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B build -G Ninja -DCMAKE_CUDA_ARCHITECTURES="70;80;90" \
 && cmake --build build -j

FROM nvidia/cuda:${CUDA}-runtime-ubuntu${UBUNTU}
COPY --from=devel /src/build/solver /usr/local/bin/solver
ENTRYPOINT ["solver"]
