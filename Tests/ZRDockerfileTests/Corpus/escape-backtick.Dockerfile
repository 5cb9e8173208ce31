# escape=`
FROM mcr.microsoft.com/windows/servercore:ltsc2022
SHELL ["powershell", "-Command", "$ErrorActionPreference = 'Stop';"]
WORKDIR C:\app
COPY . C:\app\
RUN Write-Host 'one'; `
    Write-Host 'two'
ENV TOOLS=C:\tools `
    MODE=release
CMD ["C:\\app\\run.exe"]
