"""What a stored study gives back: typed records, trained models, the dashboard note."""
