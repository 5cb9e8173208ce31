FROM alpine:3.19
RUN echo a \   
  b \	
  c
RUN echo last \
