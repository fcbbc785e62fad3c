"""`python -m hala.pipelines.cli`: the same as the `hala` command."""

from hala.pipelines.cli.app import main

main()
