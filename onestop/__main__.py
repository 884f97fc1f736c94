"""``python -m onestop`` runs the command line."""

from onestop.cli import main

main()
