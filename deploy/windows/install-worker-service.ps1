<#
.SYNOPSIS
  Installs a ts-dask worker as a Windows service with NSSM: it starts with the machine and is
  restarted when it fails.

.DESCRIPTION
  Runs `node.exe <ts-dask>\bin\ts-dask.mjs worker <NatsUrl> --cluster ... --name ... --nprocs ...
  --nthreads ... --memory-limit ... --death-timeout ... --local-directory ...` under NSSM
  (https://nssm.cc; `choco install nssm`, or put nssm.exe on PATH).

  Stopping: NSSM sends Ctrl+C first (Node sees SIGINT); the worker then stops its executor
  processes and exits 0 within 30 s. -StopTimeoutMs (AppStopMethodConsole) is how long NSSM waits
  for that before it terminates the process tree, so it is longer than the worker's own 30 s.
  Exit codes: 0 = stopped as asked (the service stays stopped); non-zero = --death-timeout expired,
  name refused or crash (NSSM restarts it after 5 s).

  Re-running the script replaces an existing service of the same name.

.EXAMPLE
  # In an elevated PowerShell, from a checkout (npm ci done) or after `npm install -g .\ts-dask-0.1.0.tgz`:
  .\install-worker-service.ps1 -NatsUrl nats://scheduler-host:4222 -Name MyWorker -Nprocs 4 -Nthreads 1 -MemoryLimit '1GB' -DeathTimeout 120

.EXAMPLE
  # With one user per role (deploy/nats/least-privilege.conf): the password stays in a file.
  .\install-worker-service.ps1 -NatsUrl nats://scheduler-host:4222 -Cluster home -User home-worker -PasswordFile C:\ProgramData\ts-dask\worker.pw

.NOTES
  Quote -MemoryLimit ('1GB'): unquoted, PowerShell reads 1GB as the number 1073741824 (which
  ts-dask also accepts, as bytes).

  Credentials are given as files (-TokenFile, -PasswordFile, -NkeyFile, -CredsFile, TLS files):
  the service gets their paths in its environment, never the secret on its command line. Write a
  token file readable by SYSTEM and Administrators only, e.g.:
    $f = Join-Path $env:ProgramData 'ts-dask\token'
    New-Item -ItemType Directory -Force (Split-Path $f) | Out-Null
    Set-Content -NoNewline -Path $f -Value (Read-Host 'NATS token')
    icacls $f /inheritance:r /grant:r 'SYSTEM:R' 'Administrators:F'
#>
#Requires -RunAsAdministrator
[CmdletBinding()]
param(
  # The NATS server of the cluster, e.g. nats://scheduler-host:4222 (the only address a worker needs).
  [Parameter(Mandatory = $true)][string]$NatsUrl,
  # Worker name (dashboard, `ts-dask info`); its processes are NAME-0 ... NAME-(n-1). Unique per cluster.
  [string]$Name = $env:COMPUTERNAME,
  # Executor processes (JavaScript runs one thread per process: CPU-bound work needs processes).
  [int]$Nprocs = [Environment]::ProcessorCount,
  # Tasks at once per process.
  [int]$Nthreads = 1,
  # Memory per process: '1GB', '512MiB', '0.5' (of this machine), 'auto', '0' = none.
  [string]$MemoryLimit = '1GB',
  # Seconds to keep trying to reach a missing scheduler before exiting (then NSSM restarts it).
  [int]$DeathTimeout = 120,
  # Where the worker keeps uploaded code and installed packages.
  [string]$LocalDirectory = (Join-Path $env:ProgramData 'ts-dask\worker'),
  # Cluster name (several clusters can share one NATS server).
  [string]$Cluster = 'default',
  # NATS credentials: FILES only, never a secret itself (a command line is visible to every user
  # of the machine). Each becomes a variable of the service's environment ($env:TSDASK_*), not an
  # argument. Make each file readable by SYSTEM and Administrators only (see .NOTES).
  # A file holding the NATS token (TSDASK_TOKEN_FILE).
  [string]$TokenFile = '',
  # NATS user (TSDASK_USER) and a file holding its password (TSDASK_PASSWORD_FILE).
  [string]$User = '',
  [string]$PasswordFile = '',
  # An nkey seed file (TSDASK_NKEY_FILE) or a .creds file (TSDASK_CREDS).
  [string]$NkeyFile = '',
  [string]$CredsFile = '',
  # TLS: the CA of the server's certificate, a client certificate and its key (TSDASK_TLS_CA/_CERT/_KEY).
  [string]$TlsCa = '',
  [string]$TlsCert = '',
  [string]$TlsKey = '',
  [string]$ServiceName = 'ts-dask-worker',
  # node.exe (Node 20.6 or later); default: the one on PATH, else %ProgramFiles%\nodejs\node.exe.
  [string]$NodePath = '',
  # ts-dask's bin\ts-dask.mjs; default: the checkout this script is in, else `npm root -g`\ts-dask.
  [string]$TsDaskBin = '',
  # nssm.exe; default: the one on PATH.
  [string]$Nssm = '',
  # The service's working directory and log directory.
  [string]$AppDirectory = (Join-Path $env:ProgramData 'ts-dask'),
  [string]$LogDirectory = (Join-Path $env:ProgramData 'ts-dask\logs'),
  # How long NSSM waits after Ctrl+C before terminating the worker (ms).
  [int]$StopTimeoutMs = 35000
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

# --- find nssm.exe, node.exe and ts-dask ---------------------------------------------------------

if (-not $Nssm) {
  $found = Get-Command nssm.exe -ErrorAction SilentlyContinue
  if (-not $found) { throw 'nssm.exe not found on PATH: install NSSM (https://nssm.cc, or `choco install nssm`) or pass -Nssm C:\path\to\nssm.exe' }
  $Nssm = $found.Source
}

if (-not $NodePath) {
  $found = Get-Command node.exe -ErrorAction SilentlyContinue
  if ($found) { $NodePath = $found.Source }
  elseif (Test-Path (Join-Path $env:ProgramFiles 'nodejs\node.exe')) { $NodePath = Join-Path $env:ProgramFiles 'nodejs\node.exe' }
  else { throw 'node.exe not found: install Node 20.6 or later (https://nodejs.org) or pass -NodePath C:\path\to\node.exe' }
}
$nodeVersion = (& $NodePath --version).Trim()
# package.json's engines: >=20.6 (module.register, which loads TypeScript and uploads, came in 20.6)
if ($nodeVersion -notmatch '^v(\d+)\.(\d+)\.' -or [int]$Matches[1] -lt 20 -or ([int]$Matches[1] -eq 20 -and [int]$Matches[2] -lt 6)) { throw "ts-dask needs Node 20.6 or later; $NodePath is $nodeVersion" }

if (-not $TsDaskBin) {
  $candidates = @(Join-Path $PSScriptRoot '..\..\bin\ts-dask.mjs')
  $npm = Get-Command npm.cmd -ErrorAction SilentlyContinue
  if ($npm) {
    $npmRoot = (& $npm.Source root -g | Select-Object -First 1)
    if ($npmRoot) { $candidates += Join-Path $npmRoot.Trim() 'ts-dask\bin\ts-dask.mjs' }
  }
  $TsDaskBin = $candidates | Where-Object { Test-Path $_ } | Select-Object -First 1
  if (-not $TsDaskBin) { throw "ts-dask not found (looked for $($candidates -join ', ')): ``npm install -g .\ts-dask-0.1.0.tgz`` (deploy\README.md, section 1), or run ``npm ci`` in a ts-dask checkout and pass -TsDaskBin <checkout>\bin\ts-dask.mjs" }
}
$TsDaskBin = (Resolve-Path $TsDaskBin).Path
$tsDaskHome = Split-Path (Split-Path $TsDaskBin -Parent) -Parent
if (-not (Test-Path (Join-Path $tsDaskHome 'node_modules\tsx')) -and -not (Test-Path (Join-Path $tsDaskHome '..\tsx'))) {
  throw "ts-dask at $tsDaskHome has no dependencies installed: run ``npm ci`` there"
}

if ($NatsUrl -match '://[^/]*@') { throw 'NatsUrl carries a credential (token@ or user:password@), which would sit on the service''s command line: pass -TokenFile, or -User with -PasswordFile, instead' }
if ($NatsUrl -notmatch '^(nats|tls)://') { Write-Warning "NatsUrl '$NatsUrl' does not start with nats:// (or tls://)" }

# --- the command line ------------------------------------------------------------------------------

# The arguments of `node.exe`: exactly the flags `ts-dask worker` accepts (test/deploy.test.ts checks this list).
$workerArgs = @(
  $TsDaskBin, 'worker', $NatsUrl,
  '--cluster', $Cluster,
  '--name', $Name,
  '--nprocs', $Nprocs,
  '--nthreads', $Nthreads,
  '--memory-limit', $MemoryLimit,
  '--death-timeout', $DeathTimeout,
  '--local-directory', $LocalDirectory
)

# Credentials travel in the service's environment (NSSM AppEnvironmentExtra), never as arguments:
# the worker reads TSDASK_* itself (test/deploy.test.ts checks no secret reaches $workerArgs).
$credentialEnv = [ordered]@{
  TSDASK_TOKEN_FILE = $TokenFile; TSDASK_USER = $User; TSDASK_PASSWORD_FILE = $PasswordFile
  TSDASK_NKEY_FILE = $NkeyFile; TSDASK_CREDS = $CredsFile
  TSDASK_TLS_CA = $TlsCa; TSDASK_TLS_CERT = $TlsCert; TSDASK_TLS_KEY = $TlsKey
}
$serviceEnv = @()
foreach ($k in $credentialEnv.Keys) {
  $v = [string]$credentialEnv[$k]
  if (-not $v) { continue }
  if ($k -ne 'TSDASK_USER') {
    if (-not (Test-Path -LiteralPath $v -PathType Leaf)) { throw "$k`: no file $v" }
    $v = (Resolve-Path -LiteralPath $v).Path
  }
  $serviceEnv += "$k=$v"
}

# One argument as the C runtime (CommandLineToArgvW) parses it back: quoted only when needed.
function ConvertTo-WindowsArgument([string]$Arg) {
  if ($Arg -ne '' -and $Arg -notmatch '[\s"]') { return $Arg }
  $sb = New-Object System.Text.StringBuilder
  [void]$sb.Append('"')
  $backslashes = 0
  foreach ($c in $Arg.ToCharArray()) {
    if ($c -eq [char]'\') { $backslashes++; continue }
    if ($c -eq [char]'"') { [void]$sb.Append('\' * (2 * $backslashes + 1)).Append('"') }
    else { [void]$sb.Append('\' * $backslashes).Append($c) }
    $backslashes = 0
  }
  [void]$sb.Append('\' * (2 * $backslashes)).Append('"')
  return $sb.ToString()
}
$appParameters = ($workerArgs | ForEach-Object { ConvertTo-WindowsArgument ([string]$_) }) -join ' '

# --- install -----------------------------------------------------------------------------------------

function Invoke-Nssm {
  & $Nssm @args | Out-Null
  if ($LASTEXITCODE -ne 0) { throw "nssm $($args -join ' ') failed (exit code $LASTEXITCODE)" }
}

if (Get-Service -Name $ServiceName -ErrorAction SilentlyContinue) {
  Write-Host "Replacing the existing service $ServiceName"
  & $Nssm stop $ServiceName | Out-Null   # fails harmlessly when it is not running
  Invoke-Nssm remove $ServiceName confirm
}

foreach ($dir in @($AppDirectory, $LocalDirectory, $LogDirectory)) { New-Item -ItemType Directory -Force -Path $dir | Out-Null }
$log = Join-Path $LogDirectory "$ServiceName.log"

Invoke-Nssm install $ServiceName $NodePath
# AppParameters is written straight into the service's registry key (where NSSM keeps it and reads
# it at start): passing a string with embedded double quotes to `nssm set` is mangled by Windows
# PowerShell 5.1's native-argument quoting whenever a path contains a space.
$parametersKey = "HKLM:\SYSTEM\CurrentControlSet\Services\$ServiceName\Parameters"
New-ItemProperty -Path $parametersKey -Name AppParameters -PropertyType ExpandString -Value $appParameters -Force | Out-Null
# The credentials' file paths (and the user name), as KEY=value lines of the service's environment.
if ($serviceEnv.Count) { New-ItemProperty -Path $parametersKey -Name AppEnvironmentExtra -PropertyType MultiString -Value $serviceEnv -Force | Out-Null }
Invoke-Nssm set $ServiceName DisplayName "ts-dask worker $Name"
Invoke-Nssm set $ServiceName Description "ts-dask worker '$Name' for cluster '$Cluster' on $NatsUrl"
Invoke-Nssm set $ServiceName Start SERVICE_AUTO_START
Invoke-Nssm set $ServiceName AppDirectory $AppDirectory
# stdout and stderr into one log, appended, rotated at 10 MB (also while running).
Invoke-Nssm set $ServiceName AppStdout $log
Invoke-Nssm set $ServiceName AppStderr $log
Invoke-Nssm set $ServiceName AppStdoutCreationDisposition 4
Invoke-Nssm set $ServiceName AppStderrCreationDisposition 4
Invoke-Nssm set $ServiceName AppRotateFiles 1
Invoke-Nssm set $ServiceName AppRotateOnline 1
Invoke-Nssm set $ServiceName AppRotateBytes 10485760
# Restart after a failure (non-zero exit), 5 s later; exit 0 (stopped as asked) stops the service.
Invoke-Nssm set $ServiceName AppExit Default Restart
Invoke-Nssm set $ServiceName AppExit 0 Exit
Invoke-Nssm set $ServiceName AppRestartDelay 5000
# Stop: Ctrl+C, then wait StopTimeoutMs for the worker's graceful stop; then the process tree is ended.
Invoke-Nssm set $ServiceName AppStopMethodConsole $StopTimeoutMs
Invoke-Nssm set $ServiceName AppKillProcessTree 1

Start-Service -Name $ServiceName
Get-Service -Name $ServiceName | Format-Table -AutoSize Status, Name, DisplayName
Write-Host "Command: `"$NodePath`" $appParameters"
if ($serviceEnv.Count) { Write-Host "Environment: $($serviceEnv -join '; ')" }
Write-Host "Log:     $log"
Write-Host 'A worker opens no port: only outbound TCP to the NATS server (4222) is needed.'
