"""`python -m config_client`: the `config-service` command line."""

import sys

from config_client.cli import main

sys.exit(main())
