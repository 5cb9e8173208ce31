FROM	alpine:3.19   AS   base  
   RUN    echo   spaced		here   
	WORKDIR   /my dir  
ENV A=1	B=2
EXPOSE 80/tcp	443/udp   8080
