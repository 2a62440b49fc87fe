using UnityEngine;

namespace AvatarForcing.Unity
{
    /// <summary>
    /// Sends whatever an AudioSource plays (e.g. the NPC's TTS voice played by your own code) to the
    /// session as the avatar's voice, and mutes it locally so that the player's server copy, which is
    /// in step with the face, is what you hear.
    /// </summary>
    /// <remarks>
    /// Put it on the GameObject of the AudioSource that plays the voice (not on the
    /// <see cref="AvatarAudioPlayer"/>'s object). <c>OnAudioFilterRead</c>
    /// captures the source's output on the audio thread (mixed to mono, at
    /// <c>AudioSettings.outputSampleRate</c>); <c>Update</c> hands it to
    /// <see cref="AvatarForcingClient.SendAvatarAudio"/>. Not available on WebGL (no
    /// <c>OnAudioFilterRead</c> there): use <see cref="AvatarForcingClient.Speak(AudioClip)"/>.
    /// After a barge-in the server ignores the avatar's audio until the next <c>avatar_start</c>:
    /// call <see cref="AvatarForcingClient.AvatarStartedSpeaking"/> when the next utterance starts.
    /// </remarks>
    [AddComponentMenu("Avatar Forcing/Avatar Voice Tap")]
    [RequireComponent(typeof(AudioSource))]
    [DisallowMultipleComponent]
    public sealed class AvatarVoiceTap : MonoBehaviour
    {
        [Tooltip("The client that sends the voice (defaults to one on this object or its parents).")]
        [SerializeField]
        private AvatarForcingClient client;

        [Tooltip("Silence this source's own output (you hear the avatar audio from the AvatarAudioPlayer instead, in sync with the face).")]
        [SerializeField]
        private bool muteLocalOutput = true;

        [Tooltip("Send only while the AudioSource is playing (no stream of silence in between).")]
        [SerializeField]
        private bool onlyWhilePlaying = true;

        private AudioSource source;
        private SampleFifo fifo;
        private int outputRate;
        private volatile bool mute = true;
        private volatile bool capturing;

        /// <summary>The client that sends the voice.</summary>
        public AvatarForcingClient Client
        {
            get { return client; }
            set { client = value; }
        }

        /// <summary>Samples dropped because the main thread did not keep up.</summary>
        public long DroppedSamples
        {
            get { return fifo == null ? 0 : fifo.Dropped; }
        }

        private void Awake()
        {
            if (GetComponent<AvatarAudioPlayer>() != null)
            {
                UnityEngine.Debug.LogError(
                    "AvatarVoiceTap: do not put it on the AvatarAudioPlayer's object (it would send the avatar's returned voice back as its voice). "
                    + "Put it on the AudioSource that plays your TTS.",
                    this);
                mute = false;
                enabled = false;
            }
            source = GetComponent<AudioSource>();
            outputRate = AudioSettings.outputSampleRate;
            fifo = new SampleFifo(Mathf.Max(outputRate, 8000) * 4);
            if (client == null)
            {
                client = GetComponentInParent<AvatarForcingClient>();
            }
        }

        private void Update()
        {
            mute = muteLocalOutput;
            capturing = client != null && (!onlyWhilePlaying || (source != null && source.isPlaying));
            float[] samples = fifo.ReadAll();
            if (samples.Length > 0 && client != null)
            {
                client.SendAvatarAudio(samples, outputRate, 1);
            }
        }

        private void OnDisable()
        {
            capturing = false;
            if (fifo != null)
            {
                fifo.Clear();
            }
        }

        private void OnAudioFilterRead(float[] data, int channels)
        {
            if (capturing && fifo != null)
            {
                fifo.WriteMixed(data, channels);
            }
            if (mute)
            {
                System.Array.Clear(data, 0, data.Length);
            }
        }
    }
}
