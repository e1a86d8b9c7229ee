/* Uses level_math outside any rust_multiarch_binary: no -march. */
extern const char level_math_level[];

int main(void) { return level_math_level[0] == 'v' ? 0 : 1; }
