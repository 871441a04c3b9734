from django.contrib import admin

from firstline.kb.models import Article, ArticleVersion, Category, Deflection


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "partner", "position"]
    list_filter = ["partner"]
    search_fields = ["name__ucontains"]


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    """Read-mostly: articles change through the desk's editor (versions, review, audit)."""

    list_display = ["title", "partner", "language", "visibility", "status", "published_at"]
    list_filter = ["partner", "language", "visibility", "status"]
    search_fields = ["title__ucontains"]
    readonly_fields = [field.name for field in Article._meta.concrete_fields]

    def has_add_permission(self, request) -> bool:  # type: ignore[no-untyped-def]
        return False


@admin.register(ArticleVersion)
class ArticleVersionAdmin(admin.ModelAdmin):
    list_display = ["article", "number", "action", "author", "created_at"]
    list_filter = ["partner"]
    readonly_fields = [field.name for field in ArticleVersion._meta.concrete_fields]


@admin.register(Deflection)
class DeflectionAdmin(admin.ModelAdmin):
    list_display = ["article", "partner", "created_at"]
    list_filter = ["partner"]
