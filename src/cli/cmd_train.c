// attsr train: see src/train/. (Placeholder until the training loop lands.)
#include "cli/cli.h"

int cmd_train(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_error("training is not available in this build yet");
}
