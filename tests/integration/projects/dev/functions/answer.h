/* Included by app.c: kumo dev rebuilds app when this changes. */
#define ANSWER "a1"
