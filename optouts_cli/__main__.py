from optouts_cli.main import cli

cli(prog_name="optouts")
