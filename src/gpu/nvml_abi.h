/* nvml_abi.h - the part of NVIDIA's nvml.h ABI that Colossus uses, written out so that nothing
 * needs NVIDIA's headers to build. Shared by the loader (src/gpu/nvml.c) and the fake library
 * (tests/fakenvml/). Layouts are those of nvml.h (NVML API 12/13, driver 5xx); the static
 * asserts pin the sizes and offsets that the real header gives. */
#ifndef COLOSSUS_GPU_NVML_ABI_H
#define COLOSSUS_GPU_NVML_ABI_H

#include <stddef.h>

typedef int nvmlReturn_t;
typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct nvmlEventSet_st *nvmlEventSet_t;
typedef int nvmlEnableState_t;

enum {
    NVML_SUCCESS = 0,
    NVML_ERROR_UNINITIALIZED = 1,
    NVML_ERROR_INVALID_ARGUMENT = 2,
    NVML_ERROR_NOT_SUPPORTED = 3,
    NVML_ERROR_NO_PERMISSION = 4,
    NVML_ERROR_NOT_FOUND = 6,
    NVML_ERROR_INSUFFICIENT_SIZE = 7,
    NVML_ERROR_DRIVER_NOT_LOADED = 9,
    NVML_ERROR_TIMEOUT = 10,
    NVML_ERROR_GPU_IS_LOST = 15,
    NVML_ERROR_UNKNOWN = 999,
};

#define NVML_FEATURE_DISABLED 0
#define NVML_FEATURE_ENABLED 1
#define NVML_TEMPERATURE_GPU 0
#define NVML_CLOCK_SM 1
#define NVML_CLOCK_MEM 2
#define NVML_MEMORY_ERROR_TYPE_CORRECTED 0
#define NVML_MEMORY_ERROR_TYPE_UNCORRECTED 1
#define NVML_VOLATILE_ECC 0
#define NVML_AGGREGATE_ECC 1
#define NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS 0
#define NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR 1
#define nvmlEventTypeXidCriticalError 0x0000000000000008ULL
#define NVML_DEVICE_NAME_V2_BUFFER_SIZE 96
#define NVML_DEVICE_UUID_V2_BUFFER_SIZE 96
#define NVML_GPU_FABRIC_UUID_LEN 16
#define NVML_GPU_FABRIC_STATE_NOT_SUPPORTED 0
#define NVML_GPU_FABRIC_STATE_COMPLETED 3

typedef struct nvmlMemory_st {
    unsigned long long total;
    unsigned long long free;
    unsigned long long used;
} nvmlMemory_t;

typedef struct nvmlUtilization_st {
    unsigned int gpu;
    unsigned int memory;
} nvmlUtilization_t;

typedef struct nvmlPciInfo_st { /* the _v3 layout */
    char busIdLegacy[16];
    unsigned int domain;
    unsigned int bus;
    unsigned int device;
    unsigned int pciDeviceId;
    unsigned int pciSubSystemId;
    char busId[32];
} nvmlPciInfo_t;

typedef struct nvmlEventData_st {
    nvmlDevice_t device;
    unsigned long long eventType;
    unsigned long long eventData; /* the XID for nvmlEventTypeXidCriticalError; 999 unknown */
    unsigned int gpuInstanceId;
    unsigned int computeInstanceId;
} nvmlEventData_t;

typedef struct nvmlGpuFabricInfo_st { /* v1, nvmlDeviceGetGpuFabricInfo */
    unsigned char clusterUuid[NVML_GPU_FABRIC_UUID_LEN];
    nvmlReturn_t status;
    unsigned int cliqueId;
    unsigned char state;
} nvmlGpuFabricInfo_t;

/* nvmlDeviceGetFieldValues: one value asked for and answered. */
enum {
    NVML_VALUE_TYPE_DOUBLE = 0,
    NVML_VALUE_TYPE_UNSIGNED_INT = 1,
    NVML_VALUE_TYPE_UNSIGNED_LONG = 2,
    NVML_VALUE_TYPE_UNSIGNED_LONG_LONG = 3,
    NVML_VALUE_TYPE_SIGNED_LONG_LONG = 4,
    NVML_VALUE_TYPE_SIGNED_INT = 5,
};
#define NVML_FI_DEV_POWER_AVERAGE 185 /* mW averaged over 1 s (Ampere and newer) */
#define NVML_FI_DEV_POWER_INSTANT 186 /* mW now */
typedef union nvmlValue_st {
    double dVal;
    int siVal;
    unsigned int uiVal;
    unsigned long ulVal;
    unsigned long long ullVal;
    signed long long sllVal;
} nvmlValue_t;
typedef struct nvmlFieldValue_st {
    unsigned int fieldId;
    unsigned int scopeId; /* 0: the GPU alone */
    long long timestamp;  /* us */
    long long latencyUsec;
    int valueType; /* NVML_VALUE_TYPE_* */
    nvmlReturn_t nvmlReturn;
    nvmlValue_t value;
} nvmlFieldValue_t;

_Static_assert(sizeof(nvmlMemory_t) == 24, "nvmlMemory_t");
_Static_assert(sizeof(nvmlFieldValue_t) == 40 && offsetof(nvmlFieldValue_t, value) == 32,
               "nvmlFieldValue_t");
_Static_assert(sizeof(nvmlUtilization_t) == 8, "nvmlUtilization_t");
_Static_assert(sizeof(nvmlPciInfo_t) == 68 && offsetof(nvmlPciInfo_t, busId) == 36,
               "nvmlPciInfo_t");
_Static_assert(sizeof(nvmlEventData_t) == 32 && offsetof(nvmlEventData_t, eventData) == 16,
               "nvmlEventData_t");
_Static_assert(sizeof(nvmlGpuFabricInfo_t) == 28 &&
                   offsetof(nvmlGpuFabricInfo_t, cliqueId) == 20,
               "nvmlGpuFabricInfo_t");

/* X-macro of every NVML entry point the loader resolves: name, return, parameter list. */
#define CL_NVML_FUNCS(X)                                                                       \
    X(nvmlInit_v2, (void))                                                                     \
    X(nvmlShutdown, (void))                                                                    \
    X(nvmlDeviceGetCount_v2, (unsigned int *count))                                            \
    X(nvmlDeviceGetHandleByIndex_v2, (unsigned int index, nvmlDevice_t *dev))                  \
    X(nvmlDeviceGetName, (nvmlDevice_t dev, char *name, unsigned int len))                     \
    X(nvmlDeviceGetUUID, (nvmlDevice_t dev, char *uuid, unsigned int len))                     \
    X(nvmlDeviceGetPciInfo_v3, (nvmlDevice_t dev, nvmlPciInfo_t * pci))                        \
    X(nvmlDeviceGetMemoryInfo, (nvmlDevice_t dev, nvmlMemory_t * mem))                         \
    X(nvmlDeviceGetEnforcedPowerLimit, (nvmlDevice_t dev, unsigned int *mw))                   \
    X(nvmlDeviceGetEccMode,                                                                    \
      (nvmlDevice_t dev, nvmlEnableState_t * cur, nvmlEnableState_t * pend))                   \
    X(nvmlDeviceGetPowerUsage, (nvmlDevice_t dev, unsigned int *mw))                           \
    X(nvmlDeviceGetTotalEnergyConsumption, (nvmlDevice_t dev, unsigned long long *mj))         \
    X(nvmlDeviceGetTemperature, (nvmlDevice_t dev, int sensor, unsigned int *temp))            \
    X(nvmlDeviceGetUtilizationRates, (nvmlDevice_t dev, nvmlUtilization_t * util))             \
    X(nvmlDeviceGetClockInfo, (nvmlDevice_t dev, int type, unsigned int *mhz))                 \
    X(nvmlDeviceGetTotalEccErrors,                                                             \
      (nvmlDevice_t dev, int errtype, int countertype, unsigned long long *count))             \
    X(nvmlDeviceGetRetiredPages,                                                               \
      (nvmlDevice_t dev, int cause, unsigned int *count, unsigned long long *addrs))           \
    X(nvmlDeviceGetRetiredPagesPendingStatus, (nvmlDevice_t dev, nvmlEnableState_t * pending)) \
    X(nvmlDeviceGetRemappedRows, (nvmlDevice_t dev, unsigned int *corr, unsigned int *unc,     \
                                  unsigned int *pending, unsigned int *failed))                \
    X(nvmlDeviceGetGpuFabricInfo, (nvmlDevice_t dev, nvmlGpuFabricInfo_t * info))              \
    X(nvmlDeviceGetSupportedEventTypes, (nvmlDevice_t dev, unsigned long long *types))         \
    X(nvmlDeviceRegisterEvents,                                                                \
      (nvmlDevice_t dev, unsigned long long types, nvmlEventSet_t set))                        \
    X(nvmlEventSetCreate, (nvmlEventSet_t * set))                                              \
    X(nvmlEventSetWait_v2,                                                                     \
      (nvmlEventSet_t set, nvmlEventData_t * data, unsigned int timeout_ms))                   \
    X(nvmlEventSetFree, (nvmlEventSet_t set))                                                  \
    X(nvmlDeviceGetPowerManagementLimit, (nvmlDevice_t dev, unsigned int *mw))                 \
    X(nvmlDeviceGetPowerManagementDefaultLimit, (nvmlDevice_t dev, unsigned int *mw))          \
    X(nvmlDeviceGetPowerManagementLimitConstraints,                                            \
      (nvmlDevice_t dev, unsigned int *lo, unsigned int *hi))                                  \
    X(nvmlDeviceSetPowerManagementLimit, (nvmlDevice_t dev, unsigned int mw))                  \
    X(nvmlDeviceGetFieldValues, (nvmlDevice_t dev, int count, nvmlFieldValue_t *values))

#endif
