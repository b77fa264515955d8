"""allauth's Google provider, reading Google's endpoints from settings at call time.

allauth 65 reads them into module constants when its URLconf is imported; reading them per
call lets one process talk to Google in production and to the emulator in development and
tests (whose port is only known at run time).
"""
