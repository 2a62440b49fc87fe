import sys

from plugin_server.cli import main

sys.exit(main())
