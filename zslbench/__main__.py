from zslbench.cli import main

main()
