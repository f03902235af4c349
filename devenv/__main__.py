from devenv.cli.main import run

run()
