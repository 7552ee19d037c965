from ptbr.cli import entry

entry()
