/* The embedded demo dataset. Each blob is followed by its end symbol; sizes are end − start.
   ATTRI_DEMO_<NAME> are the files' full paths, defined by resources/CMakeLists.txt. */
#define BLOB(name, file)                 \
    .global name##_start;                \
    .global name##_end;                  \
    .balign 16;                          \
name##_start:                            \
    .incbin file;                        \
name##_end:

    .section .rodata
BLOB(attri_demo_train_images, ATTRI_DEMO_TRAIN_IMAGES)
BLOB(attri_demo_train_labels, ATTRI_DEMO_TRAIN_LABELS)
BLOB(attri_demo_test_images, ATTRI_DEMO_TEST_IMAGES)
BLOB(attri_demo_test_labels, ATTRI_DEMO_TEST_LABELS)

    .section .note.GNU-stack,"",@progbits
