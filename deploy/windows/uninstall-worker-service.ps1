<#
.SYNOPSIS
  Stops and removes the ts-dask worker service that install-worker-service.ps1 installed.

.DESCRIPTION
  `nssm stop` sends the worker Ctrl+C and waits for its graceful stop (AppStopMethodConsole), then
  `nssm remove` deletes the service. The worker's local directory and logs (under
  %ProgramData%\ts-dask by default) are kept unless -RemoveData is given.

.EXAMPLE
  .\uninstall-worker-service.ps1
  .\uninstall-worker-service.ps1 -ServiceName ts-dask-worker -RemoveData
#>
#Requires -RunAsAdministrator
[CmdletBinding()]
param(
  [string]$ServiceName = 'ts-dask-worker',
  # nssm.exe; default: the one on PATH.
  [string]$Nssm = '',
  # Also delete this directory (the default AppDirectory: local directory and logs).
  [switch]$RemoveData,
  [string]$AppDirectory = (Join-Path $env:ProgramData 'ts-dask')
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

if (-not $Nssm) {
  $found = Get-Command nssm.exe -ErrorAction SilentlyContinue
  if (-not $found) { throw 'nssm.exe not found on PATH: pass -Nssm C:\path\to\nssm.exe' }
  $Nssm = $found.Source
}

if (-not (Get-Service -Name $ServiceName -ErrorAction SilentlyContinue)) {
  Write-Host "No service named $ServiceName."
} else {
  & $Nssm stop $ServiceName | Out-Null   # fails harmlessly when it is not running
  & $Nssm remove $ServiceName confirm | Out-Null
  if ($LASTEXITCODE -ne 0) { throw "nssm remove $ServiceName failed (exit code $LASTEXITCODE)" }
  Write-Host "Removed the service $ServiceName."
}

if ($RemoveData -and (Test-Path $AppDirectory)) {
  Remove-Item -Recurse -Force -Path $AppDirectory
  Write-Host "Deleted $AppDirectory."
}
