"""Files shared in rooms (protocol 1.2, "Files"): uploads and downloads
streamed through the database, the files a message carries, and the removal
of those none took (service.py); how each is served (content.py)."""
