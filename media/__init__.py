"""Photo evidence: checks, EXIF facts, derivatives, perceptual hashes, flags.

The pure core of Sotay's photo handling. `media.pipeline` turns the bytes a
phone sent into facts and metadata-free derivatives (or a clear refusal),
`media.store` keeps originals and derivatives by SHA-256, and `media.flags`
compares one photo's facts with its visit and other surveys' photos. Nothing
here imports Flask, SQLAlchemy or a CouchDB client: callers pass bytes and
plain data in and get plain data back.
"""
