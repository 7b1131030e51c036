"""One-off studies behind the model card's notes (shortcut ablation, TFLite weight import).

Not part of the release path: nothing outside ``training/studies`` imports them.
"""
