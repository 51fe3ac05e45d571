"""One event of every type in the wyoming 1.10.2 catalogue, built with the library's typed classes."""

from wyoming.asr import Transcribe, Transcript, TranscriptChunk, TranscriptStart, TranscriptStop
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import (
    AsrModel, AsrProgram, Attribution, Describe, HandleModel, HandleProgram, Info, IntentModel,
    IntentProgram, MicProgram, Satellite, SelectProgram, SndProgram, TtsProgram, TtsVoice,
    TtsVoiceSpeaker, WakeModel, WakeProgram,
)
from wyoming.audio import AudioFormat
from wyoming.ping import Ping, Pong
from wyoming.tts import (
    Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeStopped, SynthesizeVoice,
)
from wyoming.vad import VoiceStarted, VoiceStopped

TYPED = [
    Describe, Info, SelectProgram, AudioStart, AudioChunk, AudioStop, Transcribe, Transcript,
    TranscriptStart, TranscriptChunk, TranscriptStop, Synthesize, SynthesizeStart, SynthesizeChunk,
    SynthesizeStop, SynthesizeStopped, Error, Ping, Pong, VoiceStarted, VoiceStopped,
]


def typed_class(event_type):
    for cls in TYPED:
        if cls.is_type(event_type):
            return cls
    return None


def _attr():
    return Attribution(name="OHF-Voice", url="https://github.com/OHF-Voice")


def catalogue():
    """Events as Python writes them. Returns a list of `Event`s."""
    ctx = {"conversation_id": "xyz", "deep": {"list": [1, 2.5, None, False, "ü"]}}
    info = Info(
        asr=[AsrProgram(name="faster-whisper", attribution=_attr(), installed=True, description="Faster Whisper",
                        version="3.8.1", models=[AsrModel(name="tiny-int8", attribution=_attr(), installed=False,
                                                          description=None, version="1.2.1", languages=["en", "de"])],
                        supports_transcript_streaming=True, requires_external_vad=False)],
        tts=[TtsProgram(name="piper", attribution=_attr(), installed=True, description=None, version=None,
                        voices=[TtsVoice(name="fr_FR-upmc-medium", attribution=_attr(), installed=True,
                                         description="upmc (medium)", version=None, languages=["fr_FR"],
                                         speakers=[TtsVoiceSpeaker(name="jessica"), TtsVoiceSpeaker(name="pierre")]),
                                TtsVoice(name="en_US-lessac-medium", attribution=_attr(), installed=True,
                                         description=None, version=None, languages=["en_US"])],
                        supports_synthesize_streaming=True)],
        handle=[HandleProgram(name="h", attribution=_attr(), installed=True, description=None, version=None,
                              models=[HandleModel(name="m", attribution=_attr(), installed=True, description=None,
                                                  version=None, languages=["en"])],
                              supports_handled_streaming=True, supports_home_control=True)],
        intent=[IntentProgram(name="i", attribution=_attr(), installed=True, description=None, version=None,
                              models=[IntentModel(name="m", attribution=_attr(), installed=True, description=None,
                                                  version=None, languages=["en"])])],
        wake=[WakeProgram(name="w", attribution=_attr(), installed=True, description=None, version=None,
                          models=[WakeModel(name="ok_nabu", attribution=_attr(), installed=True, description=None,
                                            version=None, languages=["en"], phrase="okay nabu")])],
        mic=[MicProgram(name="mic", attribution=_attr(), installed=True, description=None, version=None,
                        mic_format=AudioFormat(rate=16000, width=2, channels=1))],
        snd=[SndProgram(name="snd", attribution=_attr(), installed=True, description=None, version=None,
                        snd_format=AudioFormat(rate=48000, width=4, channels=2))],
        satellite=Satellite(name="sat", attribution=_attr(), installed=True, description=None, version=None,
                            area="Kitchen", has_vad=True, active_wake_words=["ok_nabu"], max_active_wake_words=1,
                            supports_trigger=True),
    )
    pcm = bytes((i * 13) % 256 for i in range(10000))
    voice = SynthesizeVoice(name="fr_FR-upmc-medium", speaker="pierre")
    typed = [
        Describe(), info, Info(), SelectProgram(name="piper"),
        AudioStart(rate=16000, width=2, channels=1), AudioStart(rate=48000, width=4, channels=2, timestamp=0),
        AudioChunk(rate=16000, width=2, channels=1, audio=pcm, timestamp=10),
        AudioChunk(rate=8000, width=1, channels=1, audio=b"\x80\x00\xff"),
        AudioChunk(rate=16000, width=2, channels=1, audio=b""),
        AudioStop(), AudioStop(timestamp=625),
        Transcribe(), Transcribe(language="en"),
        Transcribe(name="tiny-int8", language="en", context=ctx, vad_sensitivity="aggressive",
                   transcript_names=["Kitchen Lamp"], transcript_terms=["thermostat", "Grüße"]),
        Transcript(text=" Turn on the living room lamp."),
        Transcript(text="東京 \"quoted\" \\ \n\t\x01 /", language="ja", context=ctx),
        TranscriptStart(), TranscriptStart(language="en", context=ctx), TranscriptChunk(text="Turn on"),
        TranscriptStop(),
        Synthesize(text="Hello world. How are you today?"),
        Synthesize(text="Bonjour", voice=voice, text_format="ssml", context=ctx),
        Synthesize(text="Hola", voice=SynthesizeVoice(language="es_ES")),
        SynthesizeStart(), SynthesizeStart(voice=voice, text_format="text", context=ctx),
        SynthesizeChunk(text="Hello world. "), SynthesizeStop(), SynthesizeStopped(),
        Error(text="", code="AssertionError"), Error(text="boom"),
        Ping(), Ping(text="abc"), Pong(), Pong(text="abc"),
        VoiceStarted(timestamp=1230), VoiceStopped(timestamp=2890), VoiceStopped(),
    ]
    events = [t.event() for t in typed]
    # Types outside the typed catalogue travel untouched, payload included.
    events.append(Event(type="detection", data={"name": "ok_nabu", "timestamp": 5}, payload=b"\x01\x02"))
    events.append(Event(type="run-satellite"))
    return events
