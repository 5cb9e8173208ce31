FROM julia:1.10
ENV JULIA_DEPOT_PATH=/opt/julia \
    JULIA_NUM_THREADS=auto
RUN julia -e 'using Pkg; Pkg.add(["DifferentialEquations", "Plots"]); Pkg.precompile()'
COPY model.jl /opt/model.jl
CMD ["julia", "/opt/model.jl"]
