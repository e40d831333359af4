@echo off
rem Windows: double-click. Finds Python 3.10+ (the "py" launcher or python.exe) and runs install.py
rem with the same options (see "install.bat --help").
setlocal
set "HERE=%~dp0"
set "PY="
for %%V in (3.13 3.12 3.11 3.10) do (
  if not defined PY (
    py -%%V -c "import sys" >nul 2>&1 && set "PY=py -%%V"
  )
)
if not defined PY (
  py -3 -c "import sys; sys.exit(sys.version_info < (3, 10))" >nul 2>&1 && set "PY=py -3"
)
if not defined PY (
  python -c "import sys; sys.exit(sys.version_info < (3, 10))" >nul 2>&1 && set "PY=python"
)
if not defined PY (
  echo Python 3.10 or newer was not found: install Python 3.12 from python.org ^(tick "Add python.exe to PATH"^),
  echo then double-click this file again.
  set "STATUS=1"
  goto end
)
%PY% "%HERE%install.py" %*
set "STATUS=%ERRORLEVEL%"
:end
rem Started by double-click: keep the window open so the messages can be read.
echo %CMDCMDLINE% | find /i "/c" >nul && pause
exit /b %STATUS%
