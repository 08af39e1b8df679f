/* A minimal JNI binding of the keyglide C kernel: org.keyglide.LangDB (java/). It shows the
 * pattern an Android app follows: text crosses as UTF-8 byte arrays, a kg_db pointer is
 * held as a jlong, a failing status becomes a java.io.IOException with its message.
 * Build it with the kernel's sources (CMakeLists.txt here, or any NDK build). */
#include <jni.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "keyglide.h"

static void throw_io(JNIEnv *env, const char *what, kg_status st)
{
    char message[256];
    jclass io = (*env)->FindClass(env, "java/io/IOException");
    if (!io)
        return; /* FindClass has thrown */
    snprintf(message, sizeof message, "%s: %s", what, kg_status_message(st));
    (*env)->ThrowNew(env, io, message);
}

JNIEXPORT jstring JNICALL Java_org_keyglide_LangDB_version(JNIEnv *env, jclass cls)
{
    (void)cls;
    return (*env)->NewStringUTF(env, kg_version_string());
}

JNIEXPORT jlong JNICALL Java_org_keyglide_LangDB_open(JNIEnv *env, jclass cls, jbyteArray path)
{
    char name[4096];
    jsize len = (*env)->GetArrayLength(env, path);
    kg_db *db = NULL;
    kg_status st;
    (void)cls;
    if (len < 0 || (size_t)len >= sizeof name) {
        throw_io(env, "the path is too long", KG_E_INVALID_ARGUMENT);
        return 0;
    }
    (*env)->GetByteArrayRegion(env, path, 0, len, (jbyte *)name);
    name[len] = '\0';
    st = kg_open_path(name, &db);
    if (st != KG_OK) {
        throw_io(env, name, st);
        return 0;
    }
    return (jlong)(intptr_t)db;
}

JNIEXPORT jobjectArray JNICALL Java_org_keyglide_LangDB_predict(JNIEnv *env, jclass cls,
                                                                jlong handle, jbyteArray text,
                                                                jint k, jintArray scores)
{
    const kg_db *db = (const kg_db *)(intptr_t)handle;
    kg_suggestion out[KG_MAX_K];
    jint score[KG_MAX_K];
    size_t n = 0, i;
    jsize len = (*env)->GetArrayLength(env, text);
    jclass bytes_class;
    jobjectArray words;
    jbyte *data;
    kg_status st;
    (void)cls;
    if (k < 0 || k > KG_MAX_K || (*env)->GetArrayLength(env, scores) < k) {
        throw_io(env, "predict", KG_E_INVALID_ARGUMENT);
        return NULL;
    }
    data = (*env)->GetByteArrayElements(env, text, NULL);
    if (!data)
        return NULL; /* out of memory: thrown */
    st = kg_predict(db, (const char *)data, (size_t)len, (size_t)k, out, &n);
    (*env)->ReleaseByteArrayElements(env, text, data, JNI_ABORT);
    if (st != KG_OK) {
        throw_io(env, "predict", st);
        return NULL;
    }
    bytes_class = (*env)->FindClass(env, "[B");
    if (!bytes_class)
        return NULL;
    words = (*env)->NewObjectArray(env, (jsize)n, bytes_class, NULL);
    for (i = 0; words && i < n; i++) {
        const char *word;
        size_t word_len;
        jbyteArray spelled;
        if ((st = kg_display(db, out[i].word_id, &word, &word_len)) != KG_OK) {
            throw_io(env, "predict", st);
            return NULL;
        }
        spelled = (*env)->NewByteArray(env, (jsize)word_len);
        if (!spelled)
            return NULL;
        (*env)->SetByteArrayRegion(env, spelled, 0, (jsize)word_len, (const jbyte *)word);
        (*env)->SetObjectArrayElement(env, words, (jsize)i, spelled);
        (*env)->DeleteLocalRef(env, spelled);
        score[i] = out[i].score;
    }
    if (words && n)
        (*env)->SetIntArrayRegion(env, scores, 0, (jsize)n, score);
    return words;
}

JNIEXPORT void JNICALL Java_org_keyglide_LangDB_close(JNIEnv *env, jclass cls, jlong handle)
{
    (void)env;
    (void)cls;
    kg_close((kg_db *)(intptr_t)handle);
}
