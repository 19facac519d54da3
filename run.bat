@echo off
rem FabriX Agent Chat on Windows. Sets up whatever is missing, then:
rem   run.bat               development mode (hot reload, this machine only)
rem   run.bat service       service mode (production build, one port, host/port from secrets.toml)
rem   run.bat test [ARGS]   the whole test suite, browser tests included (ARGS go to pytest)
rem   run.bat manage CMD    administration commands (python -m fabrix_chat.manage CMD ...)
setlocal EnableExtensions EnableDelayedExpansion
cd /d "%~dp0"
set "ROOT=%CD%"
set "VENV=%ROOT%\.venv"
set "TOOLS=%ROOT%\.tools"
set "BUN_VERSION=1.4.5"
set "REFLEX_TELEMETRY_ENABLED=false"
set "REFLEX_CHECK_LATEST_VERSION=false"
set "PYTHONUNBUFFERED=1"
set "PYTHONUTF8=1"

set "MODE=%~1"
if "%MODE%"=="" set "MODE=dev"
set "ARGS="
if "%~1"=="" goto args_done
shift
:collect
if "%~1"=="" goto args_done
set "ARGS=!ARGS! %1"
shift
goto collect
:args_done

if /i "%MODE%"=="dev" goto dev
if /i "%MODE%"=="service" goto service
if /i "%MODE%"=="test" goto test
if /i "%MODE%"=="manage" goto manage
call :fail "Unknown mode '%MODE%'." "Use: run.bat ^| run.bat service ^| run.bat test ^| run.bat manage COMMAND"
exit /b 1

:dev
call :setup_python || exit /b 1
call :setup_bun || exit /b 1
call :check_config || exit /b 1
call :migrate || exit /b 1
echo.
echo ==^> Starting development mode (front end http://localhost:3000, back end :8000; Ctrl+C stops)
"%VENV%\Scripts\reflex.exe" run --env dev
exit /b %ERRORLEVEL%

:service
call :setup_python || exit /b 1
call :setup_bun || exit /b 1
call :check_config || exit /b 1
call :migrate || exit /b 1
for /f "tokens=1,2" %%a in ('"%VENV%\Scripts\python.exe" -m fabrix_chat.manage show-bind') do (
  set "HOST=%%a"
  set "PORT=%%b"
)
echo.
echo ==^> Starting service mode on http://%HOST%:%PORT% (production build; Ctrl+C stops)
"%VENV%\Scripts\reflex.exe" run --env prod --backend-host %HOST% --frontend-port %PORT% --backend-port %PORT%
exit /b %ERRORLEVEL%

:test
call :setup_python requirements-test.txt || exit /b 1
call :setup_bun || exit /b 1
call :find_browser || exit /b 1
echo.
echo ==^> Running the test suite (unit, integration, browser)
"%VENV%\Scripts\python.exe" -m pytest %ARGS%
if errorlevel 1 (
  call :fail "Some tests failed." "Read the failures above; tests\artifacts\ has screenshots."
  exit /b 1
)
exit /b 0

:manage
call :setup_python || exit /b 1
"%VENV%\Scripts\python.exe" -m fabrix_chat.manage %ARGS%
exit /b %ERRORLEVEL%

rem ---------------------------------------------------------------------------------------------
:setup_python
if not exist "%VENV%\Scripts\python.exe" (
  echo.
  echo ==^> Creating the Python virtual environment in .venv
  set "PY="
  where py >nul 2>nul && py -3.11 -c "import sys" >nul 2>nul && set "PY=py -3.11"
  if not defined PY (
    where python >nul 2>nul && python -c "import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)" && set "PY=python"
  )
  if not defined PY (
    call :fail "Python 3.11 or newer was not found." "Install Python 3.11 from python.org (tick 'Add to PATH'), then run this again."
    exit /b 1
  )
  !PY! -m venv "%VENV%" || (call :fail "Could not create .venv." "Check that Python is installed completely." & exit /b 1)
)
set "EXTRA=%~1"
set "STAMP=%VENV%\.installed"
set "WANT="
for /f "usebackq delims=" %%h in (`"%VENV%\Scripts\python.exe" -c "import hashlib,sys; print(hashlib.sha256(b''.join(open(f,'rb').read() for f in sys.argv[1:])).hexdigest())" requirements.txt %EXTRA%`) do set "WANT=%%h"
set "HAVE="
if exist "%STAMP%" set /p HAVE=<"%STAMP%"
if "%HAVE%"=="%WANT%" (
  echo.
  echo ==^> Python packages are up to date
  exit /b 0
)
echo.
echo ==^> Installing the pinned Python packages (requirements.txt %EXTRA%)
"%VENV%\Scripts\python.exe" -m pip install --disable-pip-version-check -q --upgrade pip || (call :fail "pip could not upgrade itself." "Check that this machine can reach the Python package index." & exit /b 1)
set "REQS=-r requirements.txt"
if not "%EXTRA%"=="" set "REQS=%REQS% -r %EXTRA%"
"%VENV%\Scripts\python.exe" -m pip install --disable-pip-version-check -q %REQS% || (call :fail "Installing the Python packages failed." "Read the pip error above; check the package index is reachable." & exit /b 1)
> "%STAMP%" echo %WANT%
exit /b 0

:setup_bun
rem Reflex builds the front end with bun; it comes from the npm registry into .tools\.
set "PATH=%TOOLS%;%PATH%"
if exist "%TOOLS%\bun.cmd" (
  echo.
  echo ==^> bun is installed in .tools
) else (
  where npm >nul 2>nul || (call :fail "npm was not found; it is needed once to install bun." "Install Node.js 20 or newer (it includes npm), then run this again." & exit /b 1)
  echo.
  echo ==^> Installing bun %BUN_VERSION% from the npm registry into .tools\
  call npm install -g --prefix "%TOOLS%" --allow-scripts=bun --no-fund --no-audit bun@%BUN_VERSION% >nul || call npm install -g --prefix "%TOOLS%" --no-fund --no-audit bun@%BUN_VERSION% >nul || (call :fail "Installing bun failed." "Check that npm can reach its registry (npm ping)." & exit /b 1)
)
if exist "%TOOLS%\node_modules\bun\bin\bun.exe" set "REFLEX_BUN_PATH=%TOOLS%\node_modules\bun\bin\bun.exe"
for /f "usebackq delims=" %%r in (`npm config get registry`) do set "NPM_CONFIG_REGISTRY=%%r"
exit /b 0

:check_config
echo.
echo ==^> Reading the configuration
"%VENV%\Scripts\python.exe" -m fabrix_chat.manage show-mode || (call :fail "The configuration cannot be used (see the message above)." "Fix the file named above (compare with secrets.toml.example), or remove it to start in demo mode." & exit /b 1)
exit /b 0

:migrate
echo.
echo ==^> Applying database migrations
"%VENV%\Scripts\python.exe" -m fabrix_chat.manage migrate || (call :fail "The database migration failed." "Read the error above; 'run.bat manage check' tests the database." & exit /b 1)
exit /b 0

:find_browser
if defined FABRIX_CHROMIUM if exist "%FABRIX_CHROMIUM%" exit /b 0
for %%b in ("%ProgramFiles%\Google\Chrome\Application\chrome.exe" "%ProgramFiles(x86)%\Google\Chrome\Application\chrome.exe" "%ProgramFiles(x86)%\Microsoft\Edge\Application\msedge.exe" "%ProgramFiles%\Microsoft\Edge\Application\msedge.exe") do (
  if exist %%b (
    set "FABRIX_CHROMIUM=%%~b"
    echo.
    echo ==^> Browser for the browser tests: %%~b
    exit /b 0
  )
)
call :fail "No Chrome or Edge was found for the browser tests." "Install Chrome or Edge, or set FABRIX_CHROMIUM to a Chromium-based browser's .exe."
exit /b 1

:fail
echo.
echo ERROR: %~1 1>&2
if not "%~2"=="" echo What to do: %~2 1>&2
exit /b 1
