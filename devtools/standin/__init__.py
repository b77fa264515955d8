"""What the local stand-ins for outside services (the Google emulator, the Sidemail stand-in) share:
a threaded Werkzeug server on its own socket, atomic JSON state files, control-API body parsing,
the command line and the HTTP client plumbing. Each stand-in keeps its own routes, state and replies.
"""
