// Linked with one layer's library as a whole archive and the layers below it
// (CMakeLists.txt, alambic_layer_check_*): the link fails if the layer calls
// into a layer above. Never run.
int main() { return 0; }
