//! Setup of question 6 (tasks, models, measurements used only by its experiment).
