FROM rocker/r-ver:4.3.2
RUN R -e "install.packages('BiocManager', repos='https://cloud.r-project.org')" \
 && R -e "BiocManager::install(c('DESeq2', 'edgeR'), ask=FALSE)"
WORKDIR /analysis
COPY --chown=rstudio:rstudio scripts/ ./scripts/
CMD ["Rscript", "scripts/run.R"]
