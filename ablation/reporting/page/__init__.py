"""The HTML report page: its tables, figures, images and the browser that checks it."""
