@echo off
rem FabriX Agent Chat on Windows: finds Python 3.11+ and hands over to launcher.py, which does
rem the rest on every system (see its docstring):
rem   run.bat               development mode (hot reload, this machine only)
rem   run.bat service       service mode (built front end, one port, host/port from secrets.toml)
rem   run.bat test [ARGS]   the whole test suite, browser tests included (ARGS go to pytest)
rem   run.bat manage CMD    administration commands (python -m fabrix_chat.manage CMD ...)
setlocal
cd /d "%~dp0"
set "PY="
py -3 -c "import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)" >nul 2>nul && set "PY=py -3"
if not defined PY python -c "import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)" >nul 2>nul && set "PY=python"
if not defined PY (
  echo.
  echo ERROR: Python 3.11 or newer was not found. 1>&2
  echo What to do: install Python 3.11 or newer from python.org ^(tick "Add python.exe to PATH"^), then run this again. 1>&2
  set "CODE=1"
  goto :done
)
%PY% "%~dp0launcher.py" %*
set "CODE=%ERRORLEVEL%"
:done
rem A double-clicked window would close before its message can be read: wait for a key on
rem failure (not after Ctrl+C, exit code 130, and not when FABRIX_NO_PAUSE or CI is set).
if not "%CODE%"=="0" if not "%CODE%"=="130" if not defined FABRIX_NO_PAUSE if not defined CI pause
exit /b %CODE%
