// Compile-only stand-ins for the UnityEngine API members the Avatar Forcing package uses.
//
// NOT Unity: every member below is a declaration with the signature of the documented Unity
// 2021.3 scripting API (the page named in its comment, under
// https://docs.unity3d.com/2021.3/Documentation/ScriptReference/), and a body that only makes it
// compile. tests/unity_client/test_unity_layer_compiles.py builds UnityEngine.dll from this file
// with mcs and compiles the package's Unity-facing code against it: a call to a member that is
// not declared here, or with other parameter types, fails that test. Add a member here only with
// the page it mirrors. Unity ignores this folder (no assembly definition in a package).
#pragma warning disable 1591, 67, 649, 169, 414

using System;

namespace UnityEngine
{
    /// ScriptReference/Object.html
    public class Object
    {
        /// Object-name.html
        public string name { get; set; }

        /// Object-hideFlags.html
        public HideFlags hideFlags { get; set; }

        /// Object.Destroy.html: public static void Destroy(Object obj);
        public static void Destroy(Object obj) { }

        /// Object.DestroyImmediate.html: public static void DestroyImmediate(Object obj);
        public static void DestroyImmediate(Object obj) { }

        /// Object-operator_bool.html: public static implicit operator bool(Object exists);
        public static implicit operator bool(Object exists) { return !ReferenceEquals(exists, null); }

        /// Object-operator_eq.html: public static bool operator ==(Object x, Object y);
        public static bool operator ==(Object x, Object y) { return ReferenceEquals(x, y); }

        /// Object-operator_ne.html: public static bool operator !=(Object x, Object y);
        public static bool operator !=(Object x, Object y) { return !ReferenceEquals(x, y); }

        public override bool Equals(object other) { return ReferenceEquals(this, other); }

        public override int GetHashCode() { return 0; }
    }

    /// HideFlags.html
    [Flags]
    public enum HideFlags
    {
        None = 0,
        HideInHierarchy = 1,
        HideInInspector = 2,
        DontSaveInEditor = 4,
        NotEditable = 8,
        DontSaveInBuild = 16,
        DontUnloadUnusedAsset = 32,
        DontSave = 52,
        HideAndDontSave = 61,
    }

    /// ScriptableObject.html
    public class ScriptableObject : Object
    {
    }

    /// Component.html
    public class Component : Object
    {
        /// Component-gameObject.html
        public GameObject gameObject { get { return null; } }

        /// Component-transform.html
        public Transform transform { get { return null; } }

        /// Component.GetComponent.html: public T GetComponent<T>();
        public T GetComponent<T>() { return default(T); }

        /// Component.GetComponentInChildren.html: public T GetComponentInChildren<T>();
        public T GetComponentInChildren<T>() { return default(T); }

        /// Component.GetComponentInParent.html: public T GetComponentInParent<T>();
        public T GetComponentInParent<T>() { return default(T); }

        /// Component.GetComponentsInChildren.html: public T[] GetComponentsInChildren<T>(bool includeInactive);
        public T[] GetComponentsInChildren<T>(bool includeInactive) { return new T[0]; }
    }

    /// Behaviour.html
    public class Behaviour : Component
    {
        /// Behaviour-enabled.html
        public bool enabled { get; set; }

        /// Behaviour-isActiveAndEnabled.html
        public bool isActiveAndEnabled { get { return true; } }
    }

    /// MonoBehaviour.html (message methods such as Update and OnAudioFilterRead are found by
    /// name by the engine, so they need no declaration here).
    public class MonoBehaviour : Behaviour
    {
    }

    /// GameObject.html
    public sealed class GameObject : Object
    {
        /// GameObject-ctor.html: public GameObject(string name);
        public GameObject(string name) { }

        /// GameObject-transform.html
        public Transform transform { get { return null; } }

        /// GameObject.AddComponent.html: public T AddComponent<T>() where T : Component;
        public T AddComponent<T>() where T : Component { return null; }

        /// GameObject.GetComponent.html: public T GetComponent<T>();
        public T GetComponent<T>() { return default(T); }

        /// GameObject.GetComponentInChildren.html: public T GetComponentInChildren<T>();
        public T GetComponentInChildren<T>() { return default(T); }

        /// GameObject.GetComponentsInChildren.html: public T[] GetComponentsInChildren<T>(bool includeInactive);
        public T[] GetComponentsInChildren<T>(bool includeInactive) { return new T[0]; }
    }

    /// Transform.html
    public class Transform : Component
    {
        /// Transform-localRotation.html
        public Quaternion localRotation { get; set; }

        /// Transform-localPosition.html
        public Vector3 localPosition { get; set; }

        /// Transform-rotation.html
        public Quaternion rotation { get; set; }

        /// Transform-parent.html
        public Transform parent { get; set; }

        /// Transform.SetParent.html: public void SetParent(Transform parent, bool worldPositionStays);
        public void SetParent(Transform parent, bool worldPositionStays) { }

        /// Transform.InverseTransformVector.html: public Vector3 InverseTransformVector(Vector3 vector);
        public Vector3 InverseTransformVector(Vector3 vector) { return vector; }
    }

    /// Vector3.html
    public struct Vector3
    {
        /// Vector3-x.html
        public float x;

        /// Vector3-y.html
        public float y;

        /// Vector3-z.html
        public float z;

        /// Vector3-ctor.html: public Vector3(float x, float y, float z);
        public Vector3(float x, float y, float z) { this.x = x; this.y = y; this.z = z; }

        /// Vector3-zero.html
        public static Vector3 zero { get { return new Vector3(0f, 0f, 0f); } }

        /// Vector3-operator_add.html: public static Vector3 operator +(Vector3 a, Vector3 b);
        public static Vector3 operator +(Vector3 a, Vector3 b) { return a; }
    }

    /// Quaternion.html
    public struct Quaternion
    {
        /// Quaternion-x.html
        public float x;

        /// Quaternion-y.html
        public float y;

        /// Quaternion-z.html
        public float z;

        /// Quaternion-w.html
        public float w;

        /// Quaternion-ctor.html: public Quaternion(float x, float y, float z, float w);
        public Quaternion(float x, float y, float z, float w) { this.x = x; this.y = y; this.z = z; this.w = w; }

        /// Quaternion-identity.html
        public static Quaternion identity { get { return new Quaternion(0f, 0f, 0f, 1f); } }

        /// Quaternion.Euler.html: public static Quaternion Euler(float x, float y, float z);
        public static Quaternion Euler(float x, float y, float z) { return identity; }

        /// Quaternion.Inverse.html: public static Quaternion Inverse(Quaternion rotation);
        public static Quaternion Inverse(Quaternion rotation) { return rotation; }

        /// Quaternion.Angle.html: public static float Angle(Quaternion a, Quaternion b);
        public static float Angle(Quaternion a, Quaternion b) { return 0f; }

        /// Quaternion-operator_multiply.html: public static Quaternion operator *(Quaternion lhs, Quaternion rhs);
        public static Quaternion operator *(Quaternion lhs, Quaternion rhs) { return lhs; }

        /// Quaternion-operator_multiply.html: public static Vector3 operator *(Quaternion rotation, Vector3 point);
        public static Vector3 operator *(Quaternion rotation, Vector3 point) { return point; }
    }

    /// Mathf.html
    public struct Mathf
    {
        /// Mathf.Clamp.html: public static float Clamp(float value, float min, float max);
        public static float Clamp(float value, float min, float max) { return value; }

        /// Mathf.Clamp01.html: public static float Clamp01(float value);
        public static float Clamp01(float value) { return value; }

        /// Mathf.Max.html: public static float Max(float a, float b);
        public static float Max(float a, float b) { return a > b ? a : b; }

        /// Mathf.Max.html: public static int Max(int a, int b);
        public static int Max(int a, int b) { return a > b ? a : b; }

        /// Mathf.Approximately.html: public static bool Approximately(float a, float b);
        public static bool Approximately(float a, float b) { return a == b; }
    }

    /// Debug.html
    public class Debug
    {
        /// Debug.Log.html: public static void Log(object message);
        public static void Log(object message) { }

        /// Debug.Log.html: public static void Log(object message, Object context);
        public static void Log(object message, Object context) { }

        /// Debug.LogWarning.html: public static void LogWarning(object message, Object context);
        public static void LogWarning(object message, Object context) { }

        /// Debug.LogWarning.html: public static void LogWarning(object message);
        public static void LogWarning(object message) { }

        /// Debug.LogError.html: public static void LogError(object message, Object context);
        public static void LogError(object message, Object context) { }

        /// Debug.LogError.html: public static void LogError(object message);
        public static void LogError(object message) { }
    }

    /// Time.html
    public class Time
    {
        /// Time-deltaTime.html
        public static float deltaTime { get { return 0f; } }

        /// Time-unscaledDeltaTime.html
        public static float unscaledDeltaTime { get { return 0f; } }

        /// Time-realtimeSinceStartupAsDouble.html (2020.2 and later)
        public static double realtimeSinceStartupAsDouble { get { return 0.0; } }

        /// Time-frameCount.html
        public static int frameCount { get { return 0; } }
    }

    /// Application.html
    public class Application
    {
        /// Application-platform.html
        public static RuntimePlatform platform { get { return RuntimePlatform.LinuxPlayer; } }
    }

    /// RuntimePlatform.html (the members used)
    public enum RuntimePlatform
    {
        OSXEditor = 0,
        OSXPlayer = 1,
        WindowsPlayer = 2,
        WindowsEditor = 7,
        IPhonePlayer = 8,
        Android = 11,
        LinuxPlayer = 13,
        LinuxEditor = 16,
        WebGLPlayer = 17,
    }

    /// Renderer.html
    public class Renderer : Component
    {
    }

    /// SkinnedMeshRenderer.html
    public class SkinnedMeshRenderer : Renderer
    {
        /// SkinnedMeshRenderer-sharedMesh.html
        public Mesh sharedMesh { get; set; }

        /// SkinnedMeshRenderer.SetBlendShapeWeight.html: public void SetBlendShapeWeight(int index, float value);
        public void SetBlendShapeWeight(int index, float value) { }

        /// SkinnedMeshRenderer.GetBlendShapeWeight.html: public float GetBlendShapeWeight(int index);
        public float GetBlendShapeWeight(int index) { return 0f; }
    }

    /// Mesh.html
    public sealed class Mesh : Object
    {
        /// Mesh-ctor.html: public Mesh();
        public Mesh() { }

        /// Mesh-vertices.html
        public Vector3[] vertices { get; set; }

        /// Mesh.AddBlendShapeFrame.html: public void AddBlendShapeFrame(string shapeName, float frameWeight, Vector3[] deltaVertices, Vector3[] deltaNormals, Vector3[] deltaTangents);
        public void AddBlendShapeFrame(string shapeName, float frameWeight, Vector3[] deltaVertices, Vector3[] deltaNormals, Vector3[] deltaTangents) { }

        /// Mesh-blendShapeCount.html
        public int blendShapeCount { get { return 0; } }

        /// Mesh.GetBlendShapeName.html: public string GetBlendShapeName(int shapeIndex);
        public string GetBlendShapeName(int shapeIndex) { return null; }

        /// Mesh.GetBlendShapeIndex.html: public int GetBlendShapeIndex(string blendShapeName);
        public int GetBlendShapeIndex(string blendShapeName) { return -1; }
    }

    /// Animator.html
    public class Animator : Behaviour
    {
        /// Animator-isHuman.html
        public bool isHuman { get { return false; } }

        /// Animator.GetBoneTransform.html: public Transform GetBoneTransform(HumanBodyBones humanBoneId);
        public Transform GetBoneTransform(HumanBodyBones humanBoneId) { return null; }
    }

    /// HumanBodyBones.html (the members used)
    public enum HumanBodyBones
    {
        Hips = 0,
        Spine = 7,
        Chest = 8,
        Neck = 9,
        Head = 10,
    }

    /// AudioBehaviour.html
    public class AudioBehaviour : Behaviour
    {
    }

    /// AudioSource.html
    public sealed class AudioSource : AudioBehaviour
    {
        /// AudioSource-clip.html
        public AudioClip clip { get; set; }

        /// AudioSource-isPlaying.html
        public bool isPlaying { get { return false; } }

        /// AudioSource-loop.html
        public bool loop { get; set; }

        /// AudioSource-playOnAwake.html
        public bool playOnAwake { get; set; }

        /// AudioSource-volume.html
        public float volume { get; set; }

        /// AudioSource-spatialBlend.html
        public float spatialBlend { get; set; }

        /// AudioSource.Play.html: public void Play();
        public void Play() { }

        /// AudioSource.Stop.html: public void Stop();
        public void Stop() { }

        /// AudioSource.PlayScheduled.html: public void PlayScheduled(double time);
        public void PlayScheduled(double time) { }

        /// AudioSource.SetScheduledEndTime.html: public void SetScheduledEndTime(double time);
        public void SetScheduledEndTime(double time) { }
    }

    /// AudioClip.html
    public sealed class AudioClip : Object
    {
        /// AudioClip-samples.html
        public int samples { get { return 0; } }

        /// AudioClip-channels.html
        public int channels { get { return 0; } }

        /// AudioClip-frequency.html
        public int frequency { get { return 0; } }

        /// AudioClip-length.html
        public float length { get { return 0f; } }

        /// AudioClip-loadState.html
        public AudioDataLoadState loadState { get { return AudioDataLoadState.Loaded; } }

        /// AudioClip.LoadAudioData.html: public bool LoadAudioData();
        public bool LoadAudioData() { return true; }

        /// AudioClip.GetData.html: public bool GetData(float[] data, int offsetSamples);
        public bool GetData(float[] data, int offsetSamples) { return true; }

        /// AudioClip.SetData.html: public bool SetData(float[] data, int offsetSamples);
        public bool SetData(float[] data, int offsetSamples) { return true; }

        /// AudioClip.Create.html: public static AudioClip Create(string name, int lengthSamples, int channels, int frequency, bool stream);
        public static AudioClip Create(string name, int lengthSamples, int channels, int frequency, bool stream) { return null; }
    }

    /// AudioDataLoadState.html
    public enum AudioDataLoadState
    {
        Unloaded = 0,
        Loading = 1,
        Loaded = 2,
        Failed = 3,
    }

    /// AudioSettings.html
    public sealed class AudioSettings
    {
        /// AudioSettings-dspTime.html
        public static double dspTime { get { return 0.0; } }

        /// AudioSettings-outputSampleRate.html
        public static int outputSampleRate { get { return 48000; } }

        /// AudioSettings.GetDSPBufferSize.html: public static void GetDSPBufferSize(out int bufferLength, out int numBuffers);
        public static void GetDSPBufferSize(out int bufferLength, out int numBuffers) { bufferLength = 1024; numBuffers = 4; }
    }

    /// Microphone.html
    public sealed class Microphone
    {
        /// Microphone-devices.html
        public static string[] devices { get { return new string[0]; } }

        /// Microphone.Start.html: public static AudioClip Start(string deviceName, bool loop, int lengthSec, int frequency);
        public static AudioClip Start(string deviceName, bool loop, int lengthSec, int frequency) { return null; }

        /// Microphone.End.html: public static void End(string deviceName);
        public static void End(string deviceName) { }

        /// Microphone.IsRecording.html: public static bool IsRecording(string deviceName);
        public static bool IsRecording(string deviceName) { return false; }

        /// Microphone.GetPosition.html: public static int GetPosition(string deviceName);
        public static int GetPosition(string deviceName) { return 0; }

        /// Microphone.GetDeviceCaps.html: public static void GetDeviceCaps(string deviceName, out int minFreq, out int maxFreq);
        public static void GetDeviceCaps(string deviceName, out int minFreq, out int maxFreq) { minFreq = 0; maxFreq = 0; }
    }

    /// GUIStyle.html
    public sealed class GUIStyle
    {
    }

    /// GUILayoutOption.html
    public sealed class GUILayoutOption
    {
    }

    /// GUI.html
    public class GUI
    {
        /// GUI-enabled.html
        public static bool enabled { get; set; }
    }

    /// GUILayout.html
    public class GUILayout
    {
        /// GUILayout.Button.html: public static bool Button(string text, params GUILayoutOption[] options);
        public static bool Button(string text, params GUILayoutOption[] options) { return false; }

        /// GUILayout.Label.html: public static void Label(string text, params GUILayoutOption[] options);
        public static void Label(string text, params GUILayoutOption[] options) { }
    }

    /// PropertyAttribute.html
    public abstract class PropertyAttribute : Attribute
    {
    }

    /// SerializeField.html
    [AttributeUsage(AttributeTargets.Field)]
    public sealed class SerializeField : Attribute
    {
    }

    /// TooltipAttribute.html
    [AttributeUsage(AttributeTargets.Field, Inherited = true, AllowMultiple = false)]
    public class TooltipAttribute : PropertyAttribute
    {
        /// TooltipAttribute.html: public TooltipAttribute(string tooltip);
        public TooltipAttribute(string tooltip) { }
    }

    /// RangeAttribute.html
    [AttributeUsage(AttributeTargets.Field, Inherited = true, AllowMultiple = false)]
    public sealed class RangeAttribute : PropertyAttribute
    {
        /// RangeAttribute.html: public RangeAttribute(float min, float max);
        public RangeAttribute(float min, float max) { }
    }

    /// HeaderAttribute.html
    [AttributeUsage(AttributeTargets.Field, Inherited = true, AllowMultiple = true)]
    public class HeaderAttribute : PropertyAttribute
    {
        /// HeaderAttribute.html: public HeaderAttribute(string header);
        public HeaderAttribute(string header) { }
    }

    /// MinAttribute.html
    [AttributeUsage(AttributeTargets.Field, Inherited = true, AllowMultiple = false)]
    public sealed class MinAttribute : PropertyAttribute
    {
        /// MinAttribute.html: public MinAttribute(float min);
        public MinAttribute(float min) { }
    }

    /// AddComponentMenu.html
    public sealed class AddComponentMenu : Attribute
    {
        /// AddComponentMenu.html: public AddComponentMenu(string menuName);
        public AddComponentMenu(string menuName) { }
    }

    /// RequireComponent.html
    [AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = true)]
    public sealed class RequireComponent : Attribute
    {
        /// RequireComponent.html: public RequireComponent(Type requiredComponent);
        public RequireComponent(Type requiredComponent) { }
    }

    /// DisallowMultipleComponent.html
    [AttributeUsage(AttributeTargets.Class, Inherited = false, AllowMultiple = false)]
    public sealed class DisallowMultipleComponent : Attribute
    {
    }

    /// DefaultExecutionOrder.html
    [AttributeUsage(AttributeTargets.Class)]
    public class DefaultExecutionOrder : Attribute
    {
        /// DefaultExecutionOrder.html: public DefaultExecutionOrder(int order);
        public DefaultExecutionOrder(int order) { }
    }

    /// HelpURLAttribute.html
    [AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
    public class HelpURLAttribute : Attribute
    {
        /// HelpURLAttribute.html: public HelpURLAttribute(string url);
        public HelpURLAttribute(string url) { }
    }
}

namespace UnityEngine.Events
{
    /// Events.UnityEventBase.html
    public abstract class UnityEventBase
    {
        /// Events.UnityEventBase.RemoveAllListeners.html: public void RemoveAllListeners();
        public void RemoveAllListeners() { }
    }

    /// Events.UnityAction.html: public delegate void UnityAction();
    public delegate void UnityAction();

    /// Events.UnityAction_1.html: public delegate void UnityAction<T0>(T0 arg0);
    public delegate void UnityAction<T0>(T0 arg0);

    /// Events.UnityAction_2.html: public delegate void UnityAction<T0, T1>(T0 arg0, T1 arg1);
    public delegate void UnityAction<T0, T1>(T0 arg0, T1 arg1);

    /// Events.UnityEvent.html
    [Serializable]
    public class UnityEvent : UnityEventBase
    {
        /// Events.UnityEvent-ctor.html: public UnityEvent();
        public UnityEvent() { }

        /// Events.UnityEvent.AddListener.html: public void AddListener(Events.UnityAction call);
        public void AddListener(UnityAction call) { }

        /// Events.UnityEvent.RemoveListener.html: public void RemoveListener(Events.UnityAction call);
        public void RemoveListener(UnityAction call) { }

        /// Events.UnityEvent.Invoke.html: public void Invoke();
        public void Invoke() { }
    }

    /// Events.UnityEvent_1.html
    [Serializable]
    public abstract class UnityEvent<T0> : UnityEventBase
    {
        /// Events.UnityEvent_1.AddListener.html: public void AddListener(Events.UnityAction<T0> call);
        public void AddListener(UnityAction<T0> call) { }

        /// Events.UnityEvent_1.RemoveListener.html: public void RemoveListener(Events.UnityAction<T0> call);
        public void RemoveListener(UnityAction<T0> call) { }

        /// Events.UnityEvent_1.Invoke.html: public void Invoke(T0 arg0);
        public void Invoke(T0 arg0) { }
    }

    /// Events.UnityEvent_2.html
    [Serializable]
    public abstract class UnityEvent<T0, T1> : UnityEventBase
    {
        /// Events.UnityEvent_2.AddListener.html: public void AddListener(Events.UnityAction<T0, T1> call);
        public void AddListener(UnityAction<T0, T1> call) { }

        /// Events.UnityEvent_2.RemoveListener.html: public void RemoveListener(Events.UnityAction<T0, T1> call);
        public void RemoveListener(UnityAction<T0, T1> call) { }

        /// Events.UnityEvent_2.Invoke.html: public void Invoke(T0 arg0, T1 arg1);
        public void Invoke(T0 arg0, T1 arg1) { }
    }
}
