namespace ActorRefresh.Engine.Persistence;

/// <summary>
/// Marker of everything the engine writes to the journal or snapshot store. Bound in hocon.conf to the
/// project's own serializer, so stored data never depends on CLR type names.
/// </summary>
internal interface IAccountPersisted;
