from oasis_cli.cli import main

main()
