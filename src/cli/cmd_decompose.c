// attsr decompose: placeholder until the SATV solver lands.
#include "cli/cli.h"

int cmd_decompose(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_error("decompose is not available in this build yet");
}
